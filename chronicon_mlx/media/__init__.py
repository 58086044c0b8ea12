"""A video file in, decoded frames out: finding videos, probing, planning, decoding."""
