"""Output taps (DESIGN §1, §6): the composited picture to the rest of a VJ rig — NDI, Syphon, Spout, a
virtual camera — and to the recorder, each at its own rate, none able to stall the show."""
