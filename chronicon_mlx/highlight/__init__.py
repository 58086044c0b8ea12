"""A long video to ranked moments: windows, a scored answer per window, merge and rank."""
