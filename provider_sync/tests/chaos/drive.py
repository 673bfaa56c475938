"""Driving the run: the phones, their links and the random API changes."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from provider_sync.tests.chaos.clients import ApiCall
from provider_sync.tests.chaos.config import PLIVO, PROVIDERS, SINCH, SINCH_VOICE_TARGETS
from provider_sync.tests.chaos.model import LinkModel, Number, PhoneModel, full_settings


class DriveMixin:
    """Set-up and the changes of a ``ChaosRun``: numbers, phones, links, the API changes, the bulk re-sync."""

    # -- helpers -----------------------------------------------------------------------------

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def operator(self) -> str:
        return self.rng.choice(self.emails)

    def seed_numbers(self, numbers: Iterable[Number]) -> None:
        """Every number we may link, at both providers (a number the provider does not know
        answers 404)."""
        rows = []
        for number in numbers:
            rows.append({"provider": SINCH, "number": number.e164})
            rows.append({"provider": PLIVO, "number": number.e164})
        if rows:
            self.sim.seed(rows)

    def settings_for(self, phone: PhoneModel, provider: str, *, provision: bool = False) -> dict[str, Any]:
        """New link settings: every free-text field set (its value is then exact at the
        provider), services drawn at random (``provision``: a Sinch service plan other than the
        current one, so that the push starts a scheduled provisioning)."""
        n = self._next()
        rng = self.rng
        if provider == SINCH:
            current = phone.link.settings.get("sms_service_plan_id") if phone.link is not None else None
            plans = [p for p in ("plan-a", "plan-b", "plan-c") if p != current] if provision else None
            plan = rng.choice(plans) if plans else rng.choice(["plan-a", "plan-b", "plan-c", None])
            campaign = rng.choice(["camp-1", "camp-2", None]) if plan and phone.country == "US" else None
            vtype = rng.choice(["RTC", "EST", "FAX", None])
            sent = {
                "display_name": f"chaos {self.cfg.seed}-{n}",
                "sms_service_plan_id": plan,
                "sms_campaign_id": campaign,
                "voice_type": vtype,
                "voice_target_id": f"{SINCH_VOICE_TARGETS[vtype]}-{rng.randint(1, 3)}" if vtype else None,
                "callback_url": self.callback_url if phone.callback else None,
            }
        else:
            sent = {"alias": f"chaos-{self.cfg.seed}-{n}", "app_id": rng.choice(["app-1", "app-2", "app-3", None])}
        return {key: value for key, value in sent.items() if value is not None}

    # -- the changes -------------------------------------------------------------------------

    def create_phones(self) -> None:
        rng = self.rng
        for key in range(self.cfg.phones):
            country = "BR" if key % 2 == 0 else "US"
            phone = PhoneModel(
                key=key,
                account_id=880_001 + key % 7,
                country=country,
                number=self.pool.new(country),
                type=rng.choice(["MOBILE", "RESIDENTIAL", "COMMERCIAL"]),
                callback=rng.random() < 0.35,
                extension=rng.choice([None, None, str(rng.randint(1, 9999))]),
            )
            body: dict[str, Any] = {
                "number": phone.number.national,
                "type": phone.type,
                "country_code": phone.number.country_code,
            }
            if phone.number.area_code is not None:
                body["area_code"] = phone.number.area_code
            if phone.extension:
                body["extension"] = phone.extension
            call = self.api.call(
                "create", self.operator(), "POST", f"/accounts/v1/accounts/{phone.account_id}/phones", body
            )
            if call.ok:
                phone.pk = call.response["id"]
                self.phones.append(phone)
        self.seed_numbers(p.number for p in self.phones)
        self.timeline.mark("phones created", phones=len(self.phones))

    def link_phones(self) -> None:
        for phone in self.phones:
            if self.rng.random() < 0.06:
                continue  # a few start unlinked: linked later by the changes
            self.put_link(phone, self.rng.choice(PROVIDERS), "link")
        self.timeline.mark("phones linked", linked=sum(p.linked for p in self.phones))

    def put_link(self, phone: PhoneModel, provider: str, kind: str, *, provision: bool = False) -> ApiCall:
        sent = self.settings_for(phone, provider, provision=provision)
        call = self.api.call(
            kind,
            self.operator(),
            "PUT",
            f"{phone.path}/provider-link",
            {"provider": provider, "settings": sent},
        )
        if call.ok:
            phone.link = LinkModel(provider=provider, settings=full_settings(provider, sent), linked=True)
        return call

    def patch_phone(self, phone: PhoneModel, kind: str, body: dict[str, Any], apply: Callable[[], None]) -> ApiCall:
        call = self.api.call(kind, self.operator(), "PATCH", phone.path, body)
        if call.ok:
            apply()
        return call

    def choices_for(self, phone: PhoneModel) -> list[tuple[str, int]]:
        ops: list[tuple[str, int]] = []
        if phone.active:
            ops += [("extension", 7), ("type", 5), ("number", 10)]
            if phone.linked:
                ops += [("settings", 22), ("switch", 9)]
            else:
                ops += [("relink", 9)]
            if self.inactivations < max(1, self.cfg.phones // 12):
                ops.append(("inactivate", 3))
        if phone.linked:
            ops.append(("unlink", 6))
        if phone.link is not None:
            ops.append(("resync", 8))
        return ops

    def change(self, phone: PhoneModel, kind: str) -> ApiCall:
        rng = self.rng
        if kind == "extension":
            value = rng.choice(["", str(rng.randint(1, 999_999))])
            return self.patch_phone(
                phone, kind, {"extension": value}, lambda: setattr(phone, "extension", value or None)
            )
        if kind == "type":
            value = rng.choice([t for t in ("MOBILE", "RESIDENTIAL", "COMMERCIAL") if t != phone.type])
            return self.patch_phone(phone, kind, {"type": value}, lambda: setattr(phone, "type", value))
        if kind == "number":
            number = self.pool.new(phone.country)
            self.seed_numbers([number])
            return self.patch_phone(phone, kind, {"number": number.national}, lambda: setattr(phone, "number", number))
        if kind == "inactivate":

            def inactivate() -> None:
                phone.active = False
                self.inactivations += 1

            return self.patch_phone(phone, kind, {"active": False}, inactivate)
        if kind == "settings":
            assert phone.link is not None
            return self.put_link(phone, phone.link.provider, kind)
        if kind == "switch":
            assert phone.link is not None
            return self.put_link(phone, SINCH if phone.link.provider == PLIVO else PLIVO, kind)
        if kind == "relink":
            return self.put_link(phone, rng.choice(PROVIDERS), kind)
        if kind == "unlink":
            call = self.api.call(kind, self.operator(), "DELETE", f"{phone.path}/provider-link")
            if call.ok:
                assert phone.link is not None
                phone.link.linked = False
            return call
        if kind == "resync":
            return self.api.call(kind, self.operator(), "POST", f"{phone.path}/sync")
        raise AssertionError(kind)

    def random_change(self, only_provider: str | None = None) -> ApiCall:
        rng = self.rng
        phones = self.phones
        if only_provider is not None:
            phones = [p for p in phones if p.active and p.linked and p.link.provider == only_provider]
            if not phones:
                return self.random_change()
        while True:
            phone = rng.choice(phones)
            choices = self.choices_for(phone)
            if only_provider is not None:
                choices = [(k, w) for k, w in choices if k in ("settings", "resync")]
            if choices:
                kinds, weights = zip(*choices, strict=True)
                return self.change(phone, rng.choices(kinds, weights)[0])

    def bulk_resync(self, provider: str) -> None:
        """Re-sync up to a batch (30) of the phones linked at ``provider`` at once (one bulk call
        per account) while one worker is paused for a moment (SIGSTOP for at most a second, well
        under the lease less a provider timeout): the other claims them as one batch whose pushes
        to the slow provider outlast the lease, and the paused one, resumed, is free to claim what
        lapses. The pause is bounded in time, not by the calls: a worker stopped inside its
        transaction holds the rows the calls' supersede waits for."""
        assert self.stack is not None
        phones = [p for p in self.phones if p.linked and p.link.provider == provider]
        chosen = self.rng.sample(phones, min(30, len(phones)))
        by_account: dict[int, list[int]] = defaultdict(list)
        for phone in chosen:
            by_account[phone.account_id].append(phone.pk)
        calls = [(account_id, sorted(ids), self.operator()) for account_id, ids in sorted(by_account.items())]
        alive = [proc for proc in self.stack.workers if proc.poll() is None]
        paused = self.rng.choice(alive) if len(alive) > 1 else None

        def post_all() -> None:
            for account_id, ids, operator in calls:
                path = f"/accounts/v1/accounts/{account_id}/phones/sync"
                self.api.call("bulk-resync", operator, "POST", path, {"ids": ids})

        poster = threading.Thread(target=post_all, name="chaos-bulk-resync")
        if paused is not None:
            self.stack.pause(paused)
            self.timeline.mark("worker paused (SIGSTOP)", pid=paused.pid)
        try:
            poster.start()
            poster.join(timeout=1.0)
        finally:
            if paused is not None:
                self.stack.resume(paused)
                self.timeline.mark("worker resumed (SIGCONT)", pid=paused.pid)
        poster.join()
        self.timeline.mark("bulk re-sync", provider=provider, phones=len(chosen))
