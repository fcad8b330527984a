using System.Collections.Concurrent;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Silo.Training;

/// <summary>
/// The latest steps of each run as this silo heard them on the bus, for the live page: a bounded window per run
/// (the run grain keeps the whole history).
/// </summary>
public sealed class LiveTrainingFeed
{
    /// <summary>Steps kept per run: a chart of the last few hundred steps, a few hundred kB at most.</summary>
    public const int StepsPerRun = 500;

    private readonly ConcurrentDictionary<string, RunWindow> _runs = new(StringComparer.Ordinal);

    /// <summary>Raised after each step is stored; handlers must be quick (they run on the bus's consumer).</summary>
    public event Action<TrainingStepCompleted>? StepCompleted;

    public IReadOnlyCollection<string> Runs => [.. _runs.Keys];

    public void Add(TrainingStepCompleted completed)
    {
        ArgumentNullException.ThrowIfNull(completed);
        _runs.GetOrAdd(completed.RunId, _ => new RunWindow()).Add(completed.Metrics);
        StepCompleted?.Invoke(completed);
    }

    /// <summary>The run's kept steps, oldest first; empty for a run this silo has not heard of.</summary>
    public IReadOnlyList<StepMetrics> Latest(string runId) =>
        _runs.TryGetValue(runId, out var window) ? window.Snapshot() : [];

    private sealed class RunWindow
    {
        private readonly Lock _lock = new();
        private readonly Queue<StepMetrics> _steps = new();

        public void Add(StepMetrics metrics)
        {
            lock (_lock)
            {
                // A recovered run repeats the steps since its checkpoint: the replay replaces what it redoes.
                if (_steps.Count > 0 && metrics.Step <= _steps.Last().Step)
                {
                    var kept = _steps.Where(s => s.Step < metrics.Step).ToList();
                    _steps.Clear();
                    foreach (var step in kept)
                    {
                        _steps.Enqueue(step);
                    }
                }

                _steps.Enqueue(metrics);
                while (_steps.Count > StepsPerRun)
                {
                    _steps.Dequeue();
                }
            }
        }

        public IReadOnlyList<StepMetrics> Snapshot()
        {
            lock (_lock)
            {
                return [.. _steps];
            }
        }
    }
}
