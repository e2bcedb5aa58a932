"""Where this emulator listens and keeps its files; set once by launcher.py at start-up."""

import os

PORT = None
WORK_DIR = None
API_PORT = None  # the API Gateway front door (apigateway.py)

# How long an idle Lambda execution environment is kept (lambda_pool.py). Lambda does not
# publish it ("We do not publish these values", AWS re:Post, "Lambda runtime refresh period
# limit", https://repost.aws/questions/QUUveUH1fGR6SHB9ZvrBsTUA/lambda-runtime-refresh-period-limit);
# 300 s is this emulator's choice, settable for tests (EMULATOR_LAMBDA_IDLE_S).
LAMBDA_IDLE_S = float(os.environ.get("EMULATOR_LAMBDA_IDLE_S", "300"))
