from pathlib import Path

from piccolo.conf.apps import AppConfig

from api.catalog.tables import CATALOG_TABLES

APP_CONFIG = AppConfig(
    app_name="catalog",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=list(CATALOG_TABLES),
    migration_dependencies=[],
    commands=[],
)
