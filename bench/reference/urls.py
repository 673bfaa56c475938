from django.urls import path

from bench.reference.views import PhoneDetail, PhoneList

urlpatterns = [
    path("ref/accounts/<int:account_id>/phones", PhoneList.as_view()),
    path("ref/accounts/<int:account_id>/phones/<int:phone_id>", PhoneDetail.as_view()),
]
