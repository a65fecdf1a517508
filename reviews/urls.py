from django.urls import path

from reviews import views

urlpatterns = [
    path("reviews/", views.changeset_list, name="changeset-list"),
    path("reviews/<int:number>/", views.changeset_detail, name="changeset-detail"),
]
