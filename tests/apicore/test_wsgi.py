import io

from apicore.wsgi import ChunkedBodyMiddleware


def run(environ: dict) -> dict:
    seen = {}

    def app(environ, start_response):
        seen["length"] = environ.get("CONTENT_LENGTH")
        seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return []

    ChunkedBodyMiddleware(app)(environ, lambda *args: None)
    return seen


def test_chunked_body_gets_a_content_length_so_it_is_not_lost():
    body = b'{"first_name": "Chunky"}'
    seen = run({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body)})
    assert seen == {"length": str(len(body)), "body": body}


def test_oversized_chunked_body_is_read_only_one_byte_past_the_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    seen = run({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"x" * 1000)})
    assert seen["length"] == "11"


def test_requests_with_a_content_length_pass_untouched():
    seen = run({"CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}")})
    assert seen == {"length": "2", "body": b"{}"}
