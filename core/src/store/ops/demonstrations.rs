//! Persuasion demonstrations (普法宣传) recorded by volunteers and officers.

use super::inputs::NewDemonstration;
use super::{check_person, check_text, check_time, check_unit};
use crate::model::*;
use crate::store::FieldStore;
use crate::{CoreError, Result, ids};

impl FieldStore {
    /// Records a persuasion demonstration.
    pub fn record_demonstration(&self, input: NewDemonstration) -> Result<DemonstrationRecord> {
        check_unit(&input.unit)?;
        input.place.check()?;
        check_person("by", &input.by)?;
        check_text("team", &input.team, 200)?;
        check_text("topic", &input.topic, 500)?;
        check_time("started_at_ms", input.started_at_ms)?;
        if input.ended_at_ms < input.started_at_ms {
            return Err(CoreError::invalid("ended_at_ms", "before the start"));
        }
        if input.people_persuaded < 0 {
            return Err(CoreError::invalid(
                "people_persuaded",
                "must not be negative",
            ));
        }
        for p in &input.participants {
            check_person("participants", p)?;
        }
        let record = DemonstrationRecord {
            kind: "demonstration".into(),
            schema_version: RECORD_SCHEMA_VERSION,
            id: ids::new_id(),
            unit: input.unit,
            team: input.team,
            participants: input.participants,
            place: input.place,
            started_at_ms: input.started_at_ms,
            ended_at_ms: input.ended_at_ms,
            topic: input.topic,
            people_persuaded: input.people_persuaded,
            note: input.note,
            created_by: input.by,
            created_at_ms: ids::now_ms(),
            evidence: vec![],
            redactions: vec![],
        };
        self.create_doc(
            Record::Demonstration(record.clone()),
            "record demonstration",
        )?;
        Ok(record)
    }
}
