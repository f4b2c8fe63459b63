"""Live video: the drop-when-busy frame pipeline, overlays, video files, the sign demo."""
