"""The screens of the console app: main, QR full screen, help."""
