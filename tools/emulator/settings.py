"""Where this emulator listens and keeps its files; set once by launcher.py at start-up."""

PORT = None
WORK_DIR = None
API_PORT = None  # the API Gateway front door (apigateway.py)
