"""A third-party platform: registered through the ``souk.platforms`` entry point. Its vendor name (``faxcorp``)
differs from its channel type (``fax``), as a vendor serving a generic channel type would."""

from pydantic import BaseModel, ConfigDict

from souk.platforms.plugin import ChannelInfo, Platform, VendorClient


class FaxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str
    password: str


class FaxClient(VendorClient):
    vendor_type = "faxcorp"

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        return ChannelInfo(external_id=self.config["number"], name="Fax line")


class FaxPlatform(Platform):
    channel_type = "fax"
    vendor_type = "faxcorp"
    display_name = "Fax"
    config_model = FaxConfig
    secret_fields = frozenset({"password"})
    needs_webhook = False
    client_class = FaxClient


PLATFORM = FaxPlatform()
