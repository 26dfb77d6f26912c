"""Operations: schedules, alerts, cron/systemd export."""
