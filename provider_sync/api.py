"""Provider sync API: re-sync a phone (or a selection) and manage its provider link."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Origin
from audit.services import AuditContext
from backoffice import roles
from backoffice.actor import Actor
from backoffice.api_docs import error, errors
from backoffice.api_fields import JSONObjectField, StrictCharField, StrictChoiceField
from backoffice.ids import INT64_MAX, parse_id
from backoffice.permissions import RolePermission
from phones import selectors
from phones.api.params import ACCOUNT_ID, CONTRACT_FIELDS, PHONE_ID, json_object
from phones.errors import PhoneNotLinked, PhoneValidationError
from phones.models import Provider, ProviderLink, SyncJob
from phones.sync_status import describe, latest_job
from provider_sync import links


class SyncJobOutput(serializers.ModelSerializer):
    operator_email = serializers.SerializerMethodField(
        help_text="The operator whose change caused the job: for roles that may read the audit trail, "
        "and for that operator; null for others."
    )

    class Meta:
        model = SyncJob
        fields = [
            "id",
            "provider",
            "number",
            "reason",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status",
            "last_error",
            "last_error_codes",
            "operator_email",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_operator_email(self, job: SyncJob) -> str | None:
        # Who changed what is the audit trail's to tell: roles that may not read it (crm-operator
        # for others' changes, treasury, geroficios, itinivel1) do not learn it here either.
        viewer = self.context.get("viewer")
        if viewer is not None and (viewer.has_perm(roles.VIEW_AUDIT) or job.operator_id == viewer.pk):
            return job.operator_email
        return None


class SyncStatusOutput(serializers.Serializer):
    """Where the link's sync stands, in words and in parts (``phones.sync_status.SyncStatus``)."""

    state = serializers.ChoiceField(
        choices=["pending", "retrying", "in_progress", "provisioning", "synced", "failed", "unlinked"],
        help_text="The link's sync state, with `retrying` (a pending job that failed before) and `unlinked`.",
    )
    text = serializers.CharField(
        help_text="One line for people, e.g. 'retrying, attempt 2 of 8, last error 503 at 14:51, next try at 14:52'."
    )
    attempt = serializers.IntegerField(
        allow_null=True,
        help_text="The push running (in progress) or next (pending, retrying), else the last one made.",
    )
    max_attempts = serializers.IntegerField()
    last_status = serializers.IntegerField(allow_null=True, help_text="The provider's HTTP status of the last error.")
    last_error = serializers.CharField(allow_blank=True, help_text="The provider's message of the last error.")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="The next try, or the next provisioning check."
    )
    since = serializers.DateTimeField(
        allow_null=True, help_text="Pending, in progress or provisioning since; synced or failed at."
    )


class ProviderLinkOutput(serializers.ModelSerializer):
    phone_id = serializers.IntegerField()
    number = serializers.CharField(source="number_e164")
    latest_job = serializers.SerializerMethodField()
    sync = serializers.SerializerMethodField()

    class Meta:
        model = ProviderLink
        fields = [
            "phone_id",
            "provider",
            "remote_number",
            "number",
            "settings",
            "linked",
            "sync_state",
            "last_status",
            "last_error",
            "last_error_codes",
            "last_attempt_at",
            "last_synced_at",
            "drift",
            "drift_detected_at",
            "drift_checked_at",
            "latest_job",
            "sync",
        ]
        read_only_fields = fields

    @extend_schema_field(SyncJobOutput(allow_null=True))
    def get_latest_job(self, link: ProviderLink) -> dict[str, Any] | None:
        job = link.jobs.order_by("-id").first()
        return SyncJobOutput(job, context=self.context).data if job else None

    @extend_schema_field(SyncStatusOutput)
    def get_sync(self, link: ProviderLink) -> dict[str, Any]:
        return SyncStatusOutput(describe(link, latest_job(link))).data


class ProviderLinkInput(serializers.Serializer):
    provider = StrictChoiceField(choices=Provider.choices)
    remote_number = StrictCharField(required=False, allow_blank=True, max_length=16, default="")
    settings = JSONObjectField(required=False, default=dict, allow_empty=True)


SyncAccepted = inline_serializer(
    "SyncAccepted", {"id": serializers.IntegerField(), "job_id": serializers.IntegerField()}
)
BulkSyncInput = inline_serializer(
    "BulkSyncInput",
    {
        "ids": serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=INT64_MAX), min_length=1, max_length=500
        )
    },
)


class SyncJobQueued(serializers.Serializer):
    id = serializers.IntegerField(help_text="The phone's id.")
    job_id = serializers.IntegerField()


BulkSyncAccepted = inline_serializer(
    "BulkSyncAccepted",
    {
        "jobs": SyncJobQueued(many=True),
        "skipped": serializers.ListField(
            child=serializers.IntegerField(),
            help_text="Ids given that are not re-synced (not in the account, or not linked).",
        ),
    },
)
NOT_LINKED = error(PhoneNotLinked.message)


def _context(request: Request) -> AuditContext:
    return AuditContext.from_request(request, origin=Origin.API)


def _link_of(request: Request, accountId: str, phoneId: str) -> ProviderLink:
    phone = selectors.access_phone_by_id(
        user=request.user,
        account_id=parse_id(accountId, "accountId"),
        phone_id=parse_id(phoneId, "phoneId"),
    )
    link = ProviderLink.objects.select_related("phone").filter(phone=phone).first()
    if link is None:
        raise PhoneNotLinked()
    return link


class PhoneSyncApi(APIView):
    permission_classes = [RolePermission]
    error_fields = CONTRACT_FIELDS
    required_perms = {"POST": roles.RESYNC_PHONE}
    server_error_messages = {"POST": "Error re-syncing phone number"}

    @extend_schema(
        operation_id="sync-account-phone",
        summary="Re-sync a phone with its provider",
        description="Queues a push of the phone's desired state to its provider; 202 with the job id.",
        parameters=[ACCOUNT_ID, PHONE_ID],
        request=None,
        responses={202: SyncAccepted, **errors(e404=error("Phone not found"), e409=NOT_LINKED)},
        tags=["Provider sync"],
    )
    def post(self, request: Request, accountId: str, phoneId: str) -> Response:
        phone_pk = parse_id(phoneId, "phoneId")
        job = links.phone_resync(
            actor=Actor.of(request.user),
            context=_context(request),
            account_id=parse_id(accountId, "accountId"),
            phone_id=phone_pk,
        )
        return Response({"id": phone_pk, "job_id": job.pk}, status=status.HTTP_202_ACCEPTED)


class PhonesBulkSyncApi(APIView):
    permission_classes = [RolePermission]
    error_fields = CONTRACT_FIELDS
    required_perms = {"POST": roles.RESYNC_PHONE}
    server_error_messages = {"POST": "Error re-syncing phone numbers"}

    @extend_schema(
        operation_id="sync-account-phones",
        summary="Re-sync a selection of an account's phones",
        parameters=[ACCOUNT_ID],
        request=BulkSyncInput,
        responses={202: BulkSyncAccepted, **errors(body=True)},
        tags=["Provider sync"],
    )
    def post(self, request: Request, accountId: str) -> Response:
        account = parse_id(accountId, "accountId")
        ids = json_object(request).get("ids")
        if not isinstance(ids, list) or not ids or len(ids) > 500:
            raise PhoneValidationError("ids", "Give a list of 1 to 500 phone ids.")
        if not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= INT64_MAX for i in ids):
            raise PhoneValidationError("ids", "Phone ids are positive integers.")
        in_account = selectors.access_phones_by_account(user=request.user, account_id=account)
        wanted = list(in_account.filter(pk__in=ids).values_list("pk", flat=True))
        jobs = links.phones_resync(actor=Actor.of(request.user), context=_context(request), phone_ids=wanted)
        done = {job.phone_id for job in jobs}
        return Response(
            {
                "jobs": [{"id": job.phone_id, "job_id": job.pk} for job in jobs],
                "skipped": sorted(set(ids) - done),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class PhoneProviderLinkApi(APIView):
    permission_classes = [RolePermission]
    error_fields = CONTRACT_FIELDS
    required_perms = {
        "GET": roles.VIEW_PHONE,
        "PUT": roles.MANAGE_PROVIDER_LINK,
        "DELETE": roles.MANAGE_PROVIDER_LINK,
    }
    server_error_messages = {
        "GET": "Error reading provider link",
        "PUT": "Error linking phone number",
        "DELETE": "Error unlinking phone number",
    }

    @extend_schema(
        operation_id="get-account-phone-provider-link",
        summary="Read a phone's provider link and sync state",
        parameters=[ACCOUNT_ID, PHONE_ID],
        responses={200: ProviderLinkOutput, **errors(e404=error("Phone not found"), e409=NOT_LINKED)},
        tags=["Provider sync"],
    )
    def get(self, request: Request, accountId: str, phoneId: str) -> Response:
        return Response(
            ProviderLinkOutput(_link_of(request, accountId, phoneId), context={"viewer": request.user}).data
        )

    @extend_schema(
        operation_id="put-account-phone-provider-link",
        summary="Link a phone to a provider number, or change its link",
        parameters=[ACCOUNT_ID, PHONE_ID],
        request=ProviderLinkInput,
        responses={
            200: ProviderLinkOutput,
            **errors(
                body=True,
                e404=error("Phone not found"),
                e409=error("Provider number already linked to another phone"),
                e422=error("Can't update an inactive phone number"),
            ),
        },
        tags=["Provider sync"],
    )
    def put(self, request: Request, accountId: str, phoneId: str) -> Response:
        serializer = ProviderLinkInput(data=json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        link = links.provider_link_set(
            actor=Actor.of(request.user),
            context=_context(request),
            account_id=parse_id(accountId, "accountId"),
            phone_id=parse_id(phoneId, "phoneId"),
            provider=data["provider"],
            remote_number=data["remote_number"],
            settings=data["settings"],
        )
        return Response(ProviderLinkOutput(link, context={"viewer": request.user}).data)

    @extend_schema(
        operation_id="delete-account-phone-provider-link",
        summary="Unlink a phone: its number gives up its SMS and voice services",
        parameters=[ACCOUNT_ID, PHONE_ID],
        responses={200: ProviderLinkOutput, **errors(e404=error("Phone not found"), e409=NOT_LINKED)},
        tags=["Provider sync"],
    )
    def delete(self, request: Request, accountId: str, phoneId: str) -> Response:
        link = links.provider_link_remove(
            actor=Actor.of(request.user),
            context=_context(request),
            account_id=parse_id(accountId, "accountId"),
            phone_id=parse_id(phoneId, "phoneId"),
        )
        return Response(ProviderLinkOutput(link, context={"viewer": request.user}).data)
