FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic reads the production settings, which refuse public or shared secrets: throw-away
# random keys, never kept in the image (the containers get theirs from the environment).
RUN DEBUG=false PROVIDER_SIMULATOR=true \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    AUDIT_HMAC_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --no-input -v 0
RUN useradd --create-home app && chown -R app /app
USER app
EXPOSE 8000
CMD ["gunicorn", "backoffice.wsgi:application", "--bind", "0.0.0.0:8000"]
