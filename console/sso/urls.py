from django.urls import include, path

from console.sso import views

urlpatterns = [
    # /oidc/authenticate/, /oidc/callback/ (our views, via OIDC_*_CLASS) and /oidc/logout/.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/login/", views.admin_login, name="sso-admin-login"),
]
