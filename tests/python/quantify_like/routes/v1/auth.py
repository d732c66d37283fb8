from flask import jsonify, request
from flask_login import login_user

from . import api_v1
from ...db import db
from ...extensions import login_manager


@login_manager.user_loader
def load_user(user_id: str):
    from ...models import User
    return db.session.get(User, int(user_id))


@api_v1.post("/auth/login")
def login():
    from ...models import User
    user = User.query.filter_by(username=(request.get_json(silent=True) or {}).get("username")).first()
    if user is None:
        return jsonify({"error": "Invalid credentials"}), 401
    login_user(user)
    return jsonify({"success": True, "user_id": user.id})


@api_v1.get("/ping")
def ping():
    import os
    return jsonify({"pid": os.getpid()})
