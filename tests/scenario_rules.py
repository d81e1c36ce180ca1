"""Which detection each simulator scenario must fire, and it alone: one declaration for the SQLite
proof, the scheduler replay and the real Loki ruler."""

#: The rule (file stem under detections/sigma) each scenario must fire, and it alone.
EXPECTED = {
    "brute-force": "docusign_brute_force_one_user",
    "password-spray": "docusign_password_spray_one_ip",
    "failures-then-success": "docusign_login_success_after_failures",
    "new-country": "docusign_login_unexpected_country",
    "credential-leak": "docusign_credential_leak_alert",
    "outside-ip-ranges": "docusign_ip_outside_allowed_ranges_alert",
    "mass-download": "docusign_mass_envelope_download",
    "mass-deletion": "docusign_mass_envelope_deletion",
    "admin-granted": "docusign_administrator_granted",
    "mfa-disabled": "docusign_two_factor_disabled",
    "sign-in-policy-weakened": "docusign_sign_in_policy_weakened",
    "connect-changed": "docusign_connect_configuration_changed",
    "monitor-alert": "docusign_monitor_alert",
}
