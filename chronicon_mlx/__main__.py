"""python -m chronicon_mlx"""

from .cli.app import main

main()
