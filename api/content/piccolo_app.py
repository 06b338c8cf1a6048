from pathlib import Path

from piccolo.conf.apps import AppConfig

from api.content.tables import CONTENT_TABLES

APP_CONFIG = AppConfig(
    app_name="content",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=list(CONTENT_TABLES),
    migration_dependencies=[],
    commands=[],
)
