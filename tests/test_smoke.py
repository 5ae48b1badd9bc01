from tests.conftest import login


def test_login_page_is_vietnamese(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="vi">' in html
    assert "Đăng nhập" in html


def test_worker_signs_in(client, worker_c1):
    response = login(client, worker_c1)
    assert response.status_code == 302
    home = client.get("/")
    assert "Xin chào" in home.get_data(as_text=True)
