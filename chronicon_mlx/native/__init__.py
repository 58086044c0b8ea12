"""Native libraries loaded into the process for other libraries: the BLAS that MLX binds to
when it is first imported."""
