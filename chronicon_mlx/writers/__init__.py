"""Writers turn results into files, always atomically."""

from .atomic import atomic_write_bytes, atomic_write_text, check_writable
from .json_writer import default_output_path, write_json

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable",
    "default_output_path",
    "write_json",
]
