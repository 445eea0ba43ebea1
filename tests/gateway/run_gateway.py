"""Start one gateway process for multi-replica tests: settings from HEGUI_* variables, the test
term detector as the moderation engine. Usage: python run_gateway.py PORT"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvicorn  # noqa: E402
from helpers import term_moderator  # noqa: E402

import hegui.moderation  # noqa: E402,F401  (import order: moderation before policy)
from hegui.config import load_settings  # noqa: E402
from hegui.gateway import create_app  # noqa: E402
from hegui.gateway.server import load_policy_for  # noqa: E402

if __name__ == "__main__":
    settings = load_settings()
    app = create_app(settings, load_policy_for(settings), moderator_factory=term_moderator)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
