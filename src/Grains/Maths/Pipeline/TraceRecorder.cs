namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// Collects trace events from many threads and keeps the last <see cref="StepCapacity"/> steps: a long run
/// records about 300 events (~60 KB) per step at P = 4, R = 2, M = 8 and runs for thousands of steps, so it must forget.
/// </summary>
public sealed class TraceRecorder
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, List<TraceEvent>> _steps = [];

    /// <exception cref="ArgumentException">A capacity below one step.</exception>
    public TraceRecorder(int stepCapacity)
    {
        if (stepCapacity < 1)
        {
            throw new ArgumentException($"The recorder must keep at least one step; got {stepCapacity}.", nameof(stepCapacity));
        }

        StepCapacity = stepCapacity;
    }

    public int StepCapacity { get; }

    /// <summary>
    /// Adds the event. When that makes one step too many the oldest step goes; an event of a step older than every
    /// kept step of a full recorder is dropped (it would be forgotten at once).
    /// </summary>
    public void Record(TraceEvent traceEvent)
    {
        ArgumentNullException.ThrowIfNull(traceEvent);
        traceEvent.Validate();
        lock (_lock)
        {
            if (!_steps.TryGetValue(traceEvent.Step, out var events))
            {
                if (_steps.Count == StepCapacity && traceEvent.Step < _steps.Keys.First())
                {
                    return;
                }

                events = [];
                _steps.Add(traceEvent.Step, events);
                if (_steps.Count > StepCapacity)
                {
                    _steps.Remove(_steps.Keys.First());
                }
            }

            events.Add(traceEvent);
        }
    }

    /// <summary>The kept steps, oldest first.</summary>
    public IReadOnlyList<long> Steps
    {
        get
        {
            lock (_lock)
            {
                return [.. _steps.Keys];
            }
        }
    }

    /// <summary>A copy of every kept event, by step, then start time.</summary>
    public IReadOnlyList<TraceEvent> Snapshot()
    {
        lock (_lock)
        {
            return [.. _steps.Values.SelectMany(events => events.OrderBy(e => e.StartMicroseconds))];
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _steps.Clear();
        }
    }
}
