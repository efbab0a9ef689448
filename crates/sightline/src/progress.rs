//! The progress bar on stderr (only when stderr is a terminal): collectors
//! done out of total, resources found, API calls, gaps.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sightline_aws::ScanRecorder;

pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressDisplay {
    pub fn start(recorder: Arc<ScanRecorder>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                task: None,
            };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} service×region  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                let p = &recorder.progress;
                shown.set_length(p.units_total.load(Ordering::Relaxed) as u64);
                shown.set_position(p.units_done.load(Ordering::Relaxed) as u64);
                shown.set_message(format!(
                    "{} resources, {} API calls, {} gaps",
                    p.resources.load(Ordering::Relaxed),
                    p.api_calls.load(Ordering::Relaxed),
                    p.gaps.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self {
            bar: Some(bar),
            task: Some(task),
        }
    }

    pub fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
