from django import forms


class PublishForm(forms.Form):
    reason = forms.CharField(max_length=2000, required=False, strip=True)
    force = forms.BooleanField(required=False)
