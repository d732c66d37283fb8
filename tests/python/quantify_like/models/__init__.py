from __future__ import annotations

import json
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint

from ..db import db


class Role(db.Model):
    __tablename__ = "roles"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50), nullable=False, unique=True)
    permission_id = db.Column(db.Integer, db.ForeignKey("permissions.id"))
    permission = db.relationship("Permission")


class Permission(db.Model):
    """The portal keeps a role's permissions as nested JSON: {"meters": {"view": true, "edit": false}}."""
    __tablename__ = "permissions"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50), nullable=False)
    permissions_json = db.Column(db.Text, nullable=False, default="{}")

    @property
    def permissions(self):
        return json.loads(self.permissions_json or "{}")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), nullable=False, unique=True)
    is_super_admin = db.Column(db.Boolean, default=False, nullable=False)
    role_id = db.Column(db.Integer, db.ForeignKey("roles.id"))
    role = db.relationship("Role")


class Meter(db.Model):
    __tablename__ = "meters"
    id = db.Column(db.Integer, primary_key=True)
    serial_number = db.Column(db.String(50), nullable=False, unique=True)
    device_eui = db.Column(db.String(16), nullable=True)
    lorawan_device_type = db.Column(db.String(50), nullable=True)


class DeviceCommand(db.Model):
    """As the portal's app/models/device_command.py declares it."""
    __tablename__ = "device_commands"
    id = db.Column(db.Integer, primary_key=True, autoincrement=True, nullable=False)
    meter_id = db.Column(db.Integer, db.ForeignKey("meters.id"), nullable=False, index=True)
    device_eui = db.Column(db.String(16), nullable=False, index=True)
    command_type = db.Column(db.String(50), nullable=False)
    command_data = db.Column(db.Text, nullable=True)
    status = db.Column(db.String(20), default="pending", nullable=False, index=True)
    priority = db.Column(db.Integer, default=5, nullable=False)
    scheduled_at = db.Column(db.DateTime, nullable=True)
    sent_at = db.Column(db.DateTime, nullable=True)
    completed_at = db.Column(db.DateTime, nullable=True)
    error_message = db.Column(db.Text, nullable=True)
    retry_count = db.Column(db.Integer, default=0, nullable=False)
    max_retries = db.Column(db.Integer, default=3, nullable=False)
    created_by = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True)
    created_at = db.Column(db.DateTime, default=datetime.utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint("command_type IN ('switch_on','switch_off','update_credit','read_meter','reset_meter','update_config')",
                        name="ck_device_commands_type"),
        CheckConstraint("status IN ('pending','queued','sent','completed','failed','cancelled')", name="ck_device_commands_status"),
        CheckConstraint("priority >= 1 AND priority <= 10", name="ck_device_commands_priority"),
    )


class AuditLog(db.Model):
    __tablename__ = "audit_logs"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True)
    action = db.Column(db.String(100), nullable=False)
    entity_type = db.Column(db.String(50))
    entity_id = db.Column(db.Integer)
    old_values = db.Column(db.Text)
    new_values = db.Column(db.Text)
    created_at = db.Column(db.DateTime, default=datetime.utcnow, nullable=False)
