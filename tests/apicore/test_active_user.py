def test_active_user_is_the_tokens_user(api, user):
    response = api.get("/api/v1/active_user/")
    assert response.status_code == 200
    assert response.json() == {
        "pk": user.pk,
        "username": "integrator",
        "email": "",
        "first_name": "",
        "last_name": "",
        "is_superuser": False,
    }


def test_active_user_needs_a_token(anon):
    assert anon.get("/api/v1/active_user/").status_code == 401
