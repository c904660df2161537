"""Recording stage: every session as an asciicast v2 file that asciinema plays."""
