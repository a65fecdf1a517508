from tests.publishing.conftest import production  # noqa: F401  (the environment fixture)
