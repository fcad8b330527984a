using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Silo.Page;

/// <summary>What one place of the pipeline did in a step: its forward and backward time and the silo it ran on.</summary>
public sealed record StageActivity(int Stage, int Replica, string Silo, string Grain, double ForwardMilliseconds, double BackwardMilliseconds, int MicroBatches);

/// <summary>Bytes a step sent from one silo to another (or within one), by kind, and the rate over the step's time.</summary>
public sealed record SiloLink(string From, string To, string Kind, long Bytes, double BytesPerSecond);

/// <param name="Step">The step's number as the run counts them: step 1 is the first completed.</param>
/// <summary>
/// The run's last completed step as the page reads it: the trace spans of that step and its metrics. The grains'
/// places (stage, replica, silo) come from the spans, so what is drawn is where the work really ran.
/// </summary>
public sealed record LiveStep(string RunId, long Step, IReadOnlyList<TraceSpan> Spans, StepMetrics? Metrics)
{
    public static LiveStep None { get; } = new("", 0, [], null);

    /// <summary>From a run's recent trace: the spans of its latest step.</summary>
    public static LiveStep From(string runId, IReadOnlyList<TraceSpan> trace, StepMetrics? metrics)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (trace.Count == 0)
        {
            return new LiveStep(runId, metrics?.Step ?? 0, [], metrics);
        }

        // Spans count steps from 0 (the step being run), metrics from 1 (the steps completed).
        var index = trace.Max(s => s.Step);
        return new LiveStep(runId, index + 1, [.. trace.Where(s => s.Step == index)], metrics?.Step == index + 1 ? metrics : null);
    }

    /// <summary>Every (stage, replica) of the step with its silo and its forward and backward time.</summary>
    public IReadOnlyList<StageActivity> Activity() =>
    [
        .. Spans.GroupBy(s => (s.Stage, s.Replica)).OrderBy(g => g.Key.Stage).ThenBy(g => g.Key.Replica).Select(g => new StageActivity(
            g.Key.Stage, g.Key.Replica, g.First().Silo, g.First().Grain,
            Milliseconds(g.Where(s => s.Op == TraceOps.Forward)), Milliseconds(g.Where(s => s.Op == TraceOps.Backward)),
            g.Where(s => s.Op == TraceOps.Forward).Select(s => s.MicroBatch).Distinct().Count())),
    ];

    /// <summary>
    /// Traffic between silos in this step. The step's byte counts are split over the links that carry them:
    /// activations forward and gradients back over each stage boundary of each replica (every micro-batch has the
    /// same shape, so each boundary carries an equal share), and each stage's all-reduce ring between the silos of
    /// its replicas (the ring sends equal chunks round it); the tied embedding's gradients between the first and last
    /// stage of each replica.
    /// </summary>
    public IReadOnlyList<SiloLink> Links()
    {
        if (Metrics is not { } m || Spans.Count == 0)
        {
            return [];
        }

        var places = Activity().ToDictionary(a => (a.Stage, a.Replica), a => a.Silo);
        var stages = places.Keys.Max(k => k.Stage) + 1;
        var replicas = places.Keys.Max(k => k.Replica) + 1;
        var seconds = Math.Max(m.Seconds, 1e-9);
        var links = new List<SiloLink>();
        var boundaries = (stages - 1) * replicas;
        for (var r = 0; r < replicas; r++)
        {
            for (var s = 0; s + 1 < stages; s++)
            {
                if (places.TryGetValue((s, r), out var a) && places.TryGetValue((s + 1, r), out var b))
                {
                    links.Add(new SiloLink(a, b, "activations", m.ActivationBytes / boundaries, m.ActivationBytes / boundaries / seconds));
                    links.Add(new SiloLink(b, a, "gradients", m.GradientBytes / boundaries, m.GradientBytes / boundaries / seconds));
                }
            }
        }

        if (stages > 1 && m.TiedGradientBytes > 0)
        {
            // The token embedding's two copies (first and last stage) swap their gradients in each replica.
            var share = m.TiedGradientBytes / (2 * replicas);
            for (var r = 0; r < replicas; r++)
            {
                if (places.TryGetValue((0, r), out var first) && places.TryGetValue((stages - 1, r), out var last))
                {
                    links.Add(new SiloLink(first, last, "tied embedding gradients", share, share / seconds));
                    links.Add(new SiloLink(last, first, "tied embedding gradients", share, share / seconds));
                }
            }
        }

        if (replicas > 1)
        {
            for (var s = 0; s < stages; s++)
            {
                for (var r = 0; r < replicas; r++)
                {
                    if (places.TryGetValue((s, r), out var a) && places.TryGetValue((s, (r + 1) % replicas), out var b))
                    {
                        var ring = m.AllReduceBytes / (stages * replicas);
                        links.Add(new SiloLink(a, b, "all-reduce", ring, ring / seconds));
                    }
                }
            }
        }

        // Links between the same two silos and of the same kind are one row.
        return
        [
            .. links.GroupBy(l => (l.From, l.To, l.Kind)).Select(g => new SiloLink(g.Key.From, g.Key.To, g.Key.Kind, g.Sum(l => l.Bytes), g.Sum(l => l.BytesPerSecond))),
        ];
    }

    private static double Milliseconds(IEnumerable<TraceSpan> spans) => spans.Sum(s => s.EndMicroseconds - s.StartMicroseconds) / 1000.0;
}
