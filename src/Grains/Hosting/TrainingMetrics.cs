using System.Diagnostics.Metrics;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// OpenTelemetry instruments for training, next to Orleans' own meters. The silo exports them when configured
/// (meter name <see cref="MeterName"/>).
/// </summary>
public sealed class TrainingMetrics : IDisposable
{
    public const string MeterName = "InsideLLMs.Training";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _steps;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _recoveries;
    private readonly Histogram<double> _stepSeconds;
    private readonly Histogram<double> _loss;
    private readonly Histogram<double> _phaseSeconds;

    public TrainingMetrics()
    {
        _steps = _meter.CreateCounter<long>("insidellms.training.steps", description: "Optimizer steps completed");
        _tokens = _meter.CreateCounter<long>("insidellms.training.tokens", unit: "{token}", description: "Tokens trained on");
        _bytes = _meter.CreateCounter<long>("insidellms.training.bytes", unit: "By", description: "Bytes moved between grains, by kind");
        _recoveries = _meter.CreateCounter<long>("insidellms.training.recoveries", description: "Rollbacks to the last consistent checkpoint");
        _stepSeconds = _meter.CreateHistogram<double>("insidellms.training.step.duration", unit: "s", description: "Wall time of a step");
        _loss = _meter.CreateHistogram<double>("insidellms.training.loss", unit: "nat", description: "Training loss per step");
        _phaseSeconds = _meter.CreateHistogram<double>("insidellms.training.phase.duration", unit: "s", description: "Step time by phase");
    }

    public void RecordStep(string runId, StepMetrics metrics, long tokens)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var run = new KeyValuePair<string, object?>("run", runId);
        _steps.Add(1, run);
        _tokens.Add(tokens, run);
        _stepSeconds.Record(metrics.Seconds, run);
        _loss.Record(metrics.Loss, run);
        _bytes.Add(metrics.ActivationBytes, run, new("kind", "activation"));
        _bytes.Add(metrics.GradientBytes, run, new("kind", "gradient"));
        _bytes.Add(metrics.AllReduceBytes, run, new("kind", "allreduce"));
        _bytes.Add(metrics.TiedGradientBytes, run, new("kind", "tied"));
        _phaseSeconds.Record(metrics.ComputeSeconds, run, new("phase", "compute"));
        _phaseSeconds.Record(metrics.MessagingSeconds, run, new("phase", "messaging"));
        _phaseSeconds.Record(metrics.BubbleSeconds, run, new("phase", "bubble"));
        _phaseSeconds.Record(metrics.OptimizerSeconds, run, new("phase", "optimizer"));
    }

    public void RecordRecovery(string runId) => _recoveries.Add(1, new KeyValuePair<string, object?>("run", runId));

    public void Dispose() => _meter.Dispose();
}
