"""Extensions created once at import, bound to an app in the factory."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

socketio = SocketIO()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
csrf = CSRFProtect()
login_manager = LoginManager()
