"""Draw docs/architecture.svg from cloudformation/sightline.yaml: every box
lists the template's own resources of the kinds it stands for, so the
picture cannot drift from the stack (tests/iac/test_architecture.py
regenerates it and compares).

    .venv-iac/bin/python scripts/architecture_svg.py > docs/architecture.svg
"""

import html
import json
import pathlib
import sys

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "cloudformation" / "sightline.yaml"

# (title, resource types, x, y, width, height, fill)
BOXES = [
    ("Users (browser, API keys)", [], 20, 20, 230, 60, "#f5f5f5"),
    ("Application Load Balancer", ["AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener",
                                   "AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::ElasticLoadBalancingV2::TargetGroup",
                                   "AWS::WAFv2::WebACLAssociation"], 20, 130, 230, 150, "#fff4e5"),
    ("Public subnets (2 AZs)", ["AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::InternetGateway"], 20, 340, 230, 130, "#eef6ff"),
    ("ECS Fargate (private subnets)", ["AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ECS::TaskDefinition"], 370, 130, 260, 150, "#e8f5e9"),
    ("Aurora PostgreSQL Serverless v2", ["AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::RDS::DBSubnetGroup",
                                         "AWS::RDS::DBClusterParameterGroup"], 370, 340, 260, 130, "#ede7f6"),
    ("Secrets Manager", ["AWS::SecretsManager::Secret"], 760, 20, 260, 150, "#fffde7"),
    ("KMS key: secrets, database, logs", ["AWS::KMS::Key", "AWS::KMS::Alias"], 760, 520, 260, 70, "#fce4ec"),
    ("CloudWatch Logs and alarms", ["AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm"], 760, 240, 260, 250, "#e0f7fa"),
    ("IAM", ["AWS::IAM::Role", "AWS::IAM::ManagedPolicy"], 370, 560, 260, 200, "#f3e5f5"),
    ("Member accounts", [], 20, 640, 180, 80, "#f5f5f5"),
    ("Setup task, run per create and update", ["AWS::Lambda::Function", "Custom::SightlineSetup", "AWS::SQS::Queue"],
     20, 500, 230, 90, "#e8f5e9"),
]
# (from box, to box, label)
ARROWS = [
    (0, 1, "HTTPS 443 (AllowedCidr)"),
    (1, 3, "HTTP 8080"),
    (3, 4, "PostgreSQL 5432, TLS"),
    (3, 5, "own secrets"),
    (3, 7, "JSON logs, EMF metrics"),
    (3, 2, "egress via NAT"),
    (8, 9, "AssumeRole, ExternalId"),
]
LINE = 15


def load():
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def centre(box):
    _, _, x, y, w, h, _ = box
    return x + w / 2, y + h / 2


def edge_point(box, towards):
    """Where the line from the box's centre towards a point leaves the box."""
    _, _, x, y, w, h, _ = box
    cx, cy = centre(box)
    dx, dy = towards[0] - cx, towards[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min((w / 2) / abs(dx) if dx else float("inf"), (h / 2) / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def draw(template):
    resources = template["Resources"]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="1040" height="780" viewBox="0 0 1040 780" '
           'font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<title>Sightline on AWS: cloudformation/sightline.yaml</title>',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
           '<rect width="1040" height="780" fill="white"/>']
    for title, kinds, x, y, w, h, fill in BOXES:
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#888"/>')
        out.append(f'<text x="{x + 8}" y="{y + 17}" font-weight="bold" font-size="12">{html.escape(title)}</text>')
        names = sorted(n for n, r in resources.items() if r["Type"] in kinds)
        if title == "Member accounts":
            out.append(f'<text x="{x + 10}" y="{y + 34}">a MonitoringRole each,</text>')
            out.append(f'<text x="{x + 10}" y="{y + 49}">member-role.yaml by StackSets</text>')
        if kinds and not names:
            raise SystemExit(f"the template has no {kinds}: the picture would lie")
        room = int((h - 30) // LINE)
        shown = names if len(names) <= room else names[: room - 1] + [f"… and {len(names) - room + 1} more"]
        for i, name in enumerate(shown):
            condition = resources.get(name, {}).get("Condition")
            label = f"{name} (if {condition})" if condition else name
            out.append(f'<text x="{x + 10}" y="{y + 34 + i * LINE}">{html.escape(label)}</text>')
    for a, b, label in ARROWS:
        start = edge_point(BOXES[a], centre(BOXES[b]))
        end = edge_point(BOXES[b], centre(BOXES[a]))
        out.append(f'<line x1="{start[0]:.0f}" y1="{start[1]:.0f}" x2="{end[0]:.0f}" y2="{end[1]:.0f}" '
                   'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>')
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        width = 6 * len(label) + 8
        out.append(f'<rect x="{mx - width / 2:.0f}" y="{my - 11:.0f}" width="{width}" height="15" fill="white" opacity="0.9"/>')
        out.append(f'<text x="{mx:.0f}" y="{my:.0f}" fill="#333" font-style="italic" text-anchor="middle">{html.escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(draw(load()))
