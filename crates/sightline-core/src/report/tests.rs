use super::*;
use crate::checks::test_support::{ctx, inventory};
use crate::evaluate::{evaluate, ScanStats};
use crate::inventory::ec2::Address;
use crate::ResourceMeta;

fn report_with_one_finding() -> (ScanReport, Vec<&'static Check>) {
    let mut inv = inventory();
    inv.services = vec!["ec2".into()];
    inv.ec2.addresses.push(Address {
        meta: ResourceMeta::new(
            "ec2.elastic_ip",
            "eipalloc-1",
            "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-1",
            "us-east-1",
        ),
        public_ip: Some("198.51.100.7".into()),
        allocation_id: Some("eipalloc-1".into()),
        association_id: None,
        instance_id: None,
        network_interface_id: None,
    });
    let checks = crate::catalog();
    (
        evaluate(&inv, &checks, &ctx(), ScanStats::default()),
        checks,
    )
}

#[test]
fn every_format_names_the_finding() {
    let (report, checks) = report_with_one_finding();
    for format in Format::ALL {
        let text = render(&report, &checks, format);
        assert!(text.contains("eipalloc-1"), "{format} lacks the resource");
        assert!(
            text.contains("ec2.eip_unassociated"),
            "{format} lacks the check"
        );
    }
}

#[test]
fn ocsf_is_a_detection_finding_and_sarif_is_2_1_0() {
    let (report, checks) = report_with_one_finding();
    let ocsf: serde_json::Value =
        serde_json::from_str(&render(&report, &checks, Format::Ocsf)).unwrap();
    assert_eq!(ocsf[0]["class_uid"], 2004);
    assert_eq!(ocsf[0]["type_uid"], 200401);
    assert_eq!(
        ocsf[0]["resources"][0]["uid"],
        "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-1"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&render(&report, &checks, Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"][index]["id"],
        "ec2.eip_unassociated"
    );
}

#[test]
fn csv_has_a_header_and_one_row_per_finding() {
    let (report, checks) = report_with_one_finding();
    let text = render(&report, &checks, Format::Csv);
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<_> = reader.records().map(Result::unwrap).collect();
    let checks: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(checks, ["ec2.eip_unassociated"]);
    assert_eq!(&rows[0][0], "ec2.eip_unassociated");
    assert_eq!(&rows[0][10], "3.65");
}

#[test]
fn unknown_format_names_the_choices() {
    let err = "xml".parse::<Format>().unwrap_err().to_string();
    assert!(err.contains("\"xml\"") && err.contains("sarif"), "{err}");
}

#[test]
fn csv_cells_that_start_like_formulas_are_defused() {
    use super::csv_format::{spreadsheet_safe, write_safe_record};
    for cell in [
        "=HYPERLINK(\"x\")",
        "+1",
        "-2",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
    ] {
        assert_eq!(spreadsheet_safe(cell), format!("'{cell}"), "{cell:?}");
    }
    for cell in ["vol-1", "", "a=b", "12.50"] {
        assert_eq!(spreadsheet_safe(cell), cell);
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    write_safe_record(&mut writer, ["=cmd|' /C calc'!A0", "ok"]).unwrap();
    let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    assert_eq!(text, "'=cmd|' /C calc'!A0,ok\n");
}

#[test]
fn the_compliance_report_is_in_every_format_that_can_hold_it() {
    let (mut report, checks) = report_with_one_finding();
    let cis = crate::compliance::framework("cis-3.0").unwrap();
    report.compliance = vec![crate::compliance::assess(cis, &report)];

    let table = render(&report, &checks, Format::Table);
    assert!(table.contains("CIS AWS Foundations 3.0.0 (cis-3.0): 7 pass, 0 fail, 47 not evaluated, 8 manual; 13% of automated controls pass."), "{table}");
    let imds = table.lines().find(|l| l.starts_with("5.6 ")).unwrap();
    assert!(
        imds.contains("pass") && imds.contains("ec2.instance_imdsv2_not_required=passed"),
        "{imds}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&render(&report, &checks, Format::Json)).unwrap();
    assert_eq!(json["compliance"][0]["framework"], "cis-3.0");

    let (name, csv) = render_compliance(&report, Format::Csv).unwrap();
    assert_eq!(name, "sightline-compliance.csv");
    assert!(csv.contains("\ncis-3.0,3.0.0,1.4,1,automated,not_evaluated,Ensure no 'root' user account access key exists,iam.root_access_keys=not_run,,iam.root_access_keys did not run"), "{csv}");

    let (_, ocsf) = render_compliance(&report, Format::Ocsf).unwrap();
    let ocsf: Vec<serde_json::Value> = serde_json::from_str(&ocsf).unwrap();
    let control = |id: &str| {
        ocsf.iter()
            .find(|c| c["compliance"]["control"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(control("5.6")["class_uid"], 2003);
    assert_eq!(control("5.6")["compliance"]["status_id"], 1);
    assert_eq!(
        control("5.6")["compliance"]["standards"][0],
        "CIS AWS Foundations 3.0.0"
    );
    assert_eq!(control("1.1")["compliance"]["status"], "Manual");
    assert!(control("1.1")["compliance"].get("status_detail").is_none());
    assert_eq!(
        control("1.4")["compliance"]["status_detail"],
        "iam.root_access_keys did not run (its service was not scanned or it was not selected)"
    );

    assert!(render_compliance(&report, Format::Sarif).is_none());
    report.compliance.clear();
    assert!(render_compliance(&report, Format::Csv).is_none());
}
