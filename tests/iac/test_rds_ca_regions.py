"""The database connection verifies Aurora's certificate against the image's
RDS CA bundle (docker/rds-ca-bundle.pem). The stack may be created only in a
region whose RDS root (RSA2048 G1, the default for new instances) is in the
bundle and unexpired: the template's RegionHasRdsCa rule lists exactly those
regions, so a region the bundle cannot verify fails at the parameter page,
not at setup."""

import datetime
import pathlib
import re
import subprocess

from test_templates import ROOT, load

BUNDLE = ROOT / "docker" / "rds-ca-bundle.pem"
ROOT_CN = re.compile(r"^Amazon RDS ([a-z]{2}(?:-gov)?-[a-z]+-\d) Root CA RSA2048 G1$")


def bundle_regions(now):
    regions = set()
    for block in BUNDLE.read_text().split("-----END CERTIFICATE-----")[:-1]:
        pem = block[block.index("-----BEGIN CERTIFICATE-----"):] + "-----END CERTIFICATE-----\n"
        out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-enddate", "-nameopt", "RFC2253"],
                             input=pem, capture_output=True, text=True, check=True).stdout
        cn = re.search(r"CN=([^,\n]+)", out).group(1)
        until = datetime.datetime.strptime(re.search(r"notAfter=(.+)", out).group(1).strip(), "%b %d %H:%M:%S %Y %Z")
        match = ROOT_CN.match(cn)
        if match and until > now:
            regions.add(match.group(1))
    return regions


def test_the_stack_is_offered_exactly_where_the_bundle_verifies_aurora():
    rule = load(ROOT / "cloudformation" / "sightline.yaml")["Rules"]["RegionHasRdsCa"]
    [assertion] = rule["Assertions"]
    listed, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    covered = bundle_regions(datetime.datetime.now())
    assert set(listed) == covered, f"listed but not verifiable: {sorted(set(listed) - covered)}; verifiable but not listed: {sorted(covered - set(listed))}"
    assert "us-east-1" in covered and len(covered) >= 20
