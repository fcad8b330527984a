namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>How long one (stage, replica) computed within one step's span, and the idle share of that span.</summary>
public readonly record struct StageBubble(int Stage, int Replica, long BusyMicroseconds, long SpanMicroseconds)
{
    /// <summary>1 - busy / span; 0 for a step that took no time.</summary>
    public double BubbleFraction => SpanMicroseconds == 0 ? 0 : 1 - (double)BusyMicroseconds / SpanMicroseconds;
}

/// <summary>
/// The measured pipeline bubble: for each (stage, replica) of a step, the share of the step's span (first operation's
/// start to last operation's end, across every stage and replica of that step) in which it ran no forward, backward
/// or optimizer. Sends, receives and all-reduce parts count as idle: waiting on the network is what the bubble
/// measure is meant to expose next to the predicted (P - 1) / (M + P - 1).
/// </summary>
public static class BubbleAnalysis
{
    /// <summary>One entry per (stage, replica) that recorded anything in the step, by replica, then stage.</summary>
    public static IReadOnlyList<StageBubble> PerStage(IEnumerable<TraceEvent> events, long step)
    {
        ArgumentNullException.ThrowIfNull(events);
        var ofStep = events.Where(e => e.Step == step).ToList();
        if (ofStep.Count == 0)
        {
            return [];
        }

        var span = ofStep.Max(e => e.EndMicroseconds) - ofStep.Min(e => e.StartMicroseconds);
        return
        [
            .. ofStep.GroupBy(e => (e.Replica, e.Stage)).OrderBy(g => g.Key)
                .Select(g => new StageBubble(g.Key.Stage, g.Key.Replica, BusyTime(g.Where(e => TraceOps.IsCompute(e.Op))), span)),
        ];
    }

    /// <summary>The length of the union of the intervals, so overlapping compute (two threads) is not counted twice.</summary>
    private static long BusyTime(IEnumerable<TraceEvent> compute)
    {
        long busy = 0, coveredUntil = long.MinValue;
        foreach (var e in compute.OrderBy(e => e.StartMicroseconds))
        {
            var start = Math.Max(e.StartMicroseconds, coveredUntil);
            if (e.EndMicroseconds > start)
            {
                busy += e.EndMicroseconds - start;
                coveredUntil = e.EndMicroseconds;
            }
        }

        return busy;
    }
}
