"""log_action as the portal has it: commits its own row, and never lets an audit failure break the request."""
from __future__ import annotations

import json
from typing import Any, Optional

from flask_login import current_user

from ..db import db


def log_action(action: str, *, entity_type: Optional[str] = None, entity_id: Optional[int] = None, old_values: Any = None,
               new_values: Any = None, request_id: Optional[str] = None) -> None:
    from ..models import AuditLog
    try:
        uid = current_user.id if getattr(current_user, "is_authenticated", False) else None
        db.session.add(AuditLog(user_id=uid, action=action, entity_type=entity_type, entity_id=entity_id,
                                old_values=json.dumps(old_values) if old_values is not None else None,
                                new_values=json.dumps(new_values) if new_values is not None else None))
        db.session.commit()
    except Exception:  # the portal swallows every audit error
        db.session.rollback()
