"""requires_permission as the portal has it: 401 JSON for XHR/JSON requests of a user not logged in (else a
redirect to the login page), super admins pass, otherwise the role's nested permissions by dotted code."""
from __future__ import annotations

from functools import wraps

from flask import jsonify, redirect, request
from flask_login import current_user


def _allowed(user, code: str) -> bool:
    if getattr(user, "is_super_admin", False):
        return True
    node = user.role.permission.permissions if user.role and user.role.permission else {}
    for part in code.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is True


def requires_permission(code: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.is_json or request.headers.get("X-Requested-With") == "XMLHttpRequest":
                    return jsonify({"error": "Session expired. Please log in again.", "code": 401, "redirect": "/login"}), 401
                return redirect("/login")
            if not _allowed(current_user, code):
                return jsonify({"error": "Permission denied", "code": 403}), 403
            return view(*args, **kwargs)
        return wrapper
    return decorator
