"""Helpers the tests share: import them from here, never from another test module or another folder's conftest.

What lives where:
- `amilia_org`: the Amilia organisation factory (`Org`, in the API's own shapes and as a sandbox state document),
  lookups in it (`person`, `account`), what a ContactPlan gives an address (`contact`, `groups_of`), and the
  Cyberimpact group titles its activities and memberships become (`BALLET`, `KARATE`, `SWIM`, `SOCCER`, `GYM`).
- `amilia_webhooks`: Amilia webhook envelopes as the emulator renders them (`envelope`, `person_event`,
  `account_event`, `registration_event`, `membership_event`) and the inbox rows the gateway stores them as
  (`delivery`, `deliver`, `events`).
- `clubs`: the organisations the flow tests sync, one function each (`initial_sync_club`, `webhook_club`,
  `shared_address_club`), the day each is synced on, the addresses the tests check, and the sync steps the
  webhook tests start from (`synced`, `reload_amilia`).
- `cyberimpact_state`: reading a sandbox Cyberimpact state document (`member`, `custom_fields`,
  `custom_fields_of_member`) and the token the sandbox accepts (`CYBERIMPACT_TOKEN`).
- `cyberimpact_diff`: planned contacts and the members Cyberimpact holds for the pure diff (`planned`,
  `as_member`, `diff`, `FIELD_IDS`, `NAMES_BY_ID`, `GROUPS`).

Helpers of one folder only stay there as `tests/<folder>/support.py` (tests/cli, tests/store). Fixtures stay in
the conftest.py files; tests/test_layout.py keeps the rule.
"""
