from relay import create_app

app = create_app()
