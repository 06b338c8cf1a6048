from pathlib import Path

from piccolo.conf.apps import AppConfig

from realtime.dojos.tables import DOJO_TABLES

APP_CONFIG = AppConfig(
    app_name="realtime",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=list(DOJO_TABLES),
    migration_dependencies=[],
    commands=[],
)
