-- uso_describe_schedule: the plain English an admin page shows.  Equivalent
-- spellings read the same, because the parsed schedule is described.
SELECT s AS schedule, uso_describe_schedule(s) AS description
FROM unnest(ARRAY[
    -- minutes and hours
    '*/15 * * * *', 'PT15M', 'every 15 minutes', 'every 15 mins',
    '* * * * *', 'every 1 minute', '*/5 * * * *', 'PT1M',
    'PT1H', '0 * * * *', '@hourly', 'every 1 hour', 'every hour',
    'PT6H', 'PT4H', 'every 6 hours', '0 */6 * * *', '0 */2 * * *',
    '30 * * * *', '15,45 * * * *', '7,19,58 * * * *', '*/7 * * * *',
    '30 seconds', '1 second', 'every 90 seconds', 'PT1H30M', 'P1DT12H',
    -- days and weeks
    'P1D', 'every 1 day', 'every day', 'every 2 days', 'P7D', 'P1W', 'every 1 week',
    'every 2 weeks', 'P14D',
    -- months and years
    'P1M', 'every 1 month', 'P3M', 'every 3 months', 'P6M', 'P1Y', 'every 2 years',
    -- times of day
    'T02:00', 'T2:00', '0 2 * * *', '@daily', '@midnight', '0 0 * * *', 'T00:15',
    '0 2,14 * * *', '30 8 * * *', '0 0,6,12 * * *',
    -- with a time of day
    'P7D T12:00', 'P1D T06:30', 'P1M T00:15', 'P3M T02:00',
    -- days of the month, months
    '0 0 1 */3 *', '@monthly', '0 0 $ * *', '0 0 1,15 * *', '0 0 15 * *',
    '0 0 1,15,$ * *', '@yearly', '@annually', '0 0 25 12 *', '0 0 $ 2 *',
    '0 12 * JAN,JUL *', '0 12 * jan-mar *', '0 0 1 */2 *', '0 0 */2 * *',
    '0 0 1-10 * *',
    -- days of the week
    '@weekly', '0 9 * * 1-5', '0 9 * * MON-FRI', '0 12 * * sat,sun', '0 0 * * 7',
    '0 8 * * 1,3,5', '0 9 * * 1-5 ', '0 9 * 12 1',
    -- both restricted (Vixie: either matches)
    '0 0 13 * 5',
    -- ranges of hours
    '*/5 9-17 * * 1-5', '* 9 * * *', '*/10 22,2 * * *',
    -- the rest
    '@reboot', '@manual'
]) s;
