using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Messages that arrive before or after the step asks for them. Used only on one grain's scheduler, so no locks:
/// a Receive method delivers, the step awaits. A rollback faults every pending wait so the step stops at once.
/// </summary>
internal sealed class Mailbox<TKey, TValue>(string what) where TKey : notnull
{
    private readonly Dictionary<TKey, TaskCompletionSource<TValue>> _slots = [];
    private string? _closed;

    public void Deliver(TKey key, TValue value)
    {
        if (_closed is not null)
        {
            return; // a message of the step being rolled back
        }

        // A duplicate (a message re-sent after a rollback carries the same numbers) keeps the first copy.
        Slot(key).TrySetResult(value);
    }

    public async Task<TValue> ReceiveAsync(TKey key, TimeSpan timeout)
    {
        if (_closed is { } reason)
        {
            // Without this, a step that reaches a wait after the rollback began would sit there until the timeout.
            throw new OperationCanceledException(reason);
        }

        var slot = Slot(key);
        try
        {
            return await slot.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No {what} {key} arrived within {timeout.TotalSeconds:F0} s.");
        }
        finally
        {
            _slots.Remove(key);
        }
    }

    /// <summary>Faults every pending wait, forgets every message, and refuses new waits until <see cref="Open"/>.</summary>
    public void Close(string reason)
    {
        Reset(reason);
        _closed = reason;
    }

    public void Open() => _closed = null;

    /// <summary>Faults every pending wait and forgets every message.</summary>
    public void Reset(string reason)
    {
        foreach (var slot in _slots.Values)
        {
            slot.TrySetException(new OperationCanceledException(reason));
        }

        _slots.Clear();
    }

    /// <summary>Forgets messages nobody will ask for any more (e.g. late copies from a rolled-back step).</summary>
    public void Forget(Func<TKey, bool> stale)
    {
        foreach (var key in _slots.Keys.Where(stale).ToArray())
        {
            if (_slots[key].Task.IsCompleted)
            {
                _slots.Remove(key);
            }
        }
    }

    private TaskCompletionSource<TValue> Slot(TKey key)
    {
        if (!_slots.TryGetValue(key, out var slot))
        {
            slot = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
            _slots.Add(key, slot);
        }

        return slot;
    }
}

/// <summary>
/// A stage grain's four mailboxes, handled together: a rollback or deactivation closes all of them at once, and a
/// step forgets every stale message in one call, so no mailbox can be missed when another is added.
/// </summary>
internal sealed class StageMailboxes
{
    public Mailbox<(long Step, int MicroBatch), ActivationMessage> Activations { get; } = new("activation");

    public Mailbox<(long Step, int MicroBatch), GradientMessage> Gradients { get; } = new("gradient");

    public Mailbox<(long Step, int Round), ChunkMessage> Chunks { get; } = new("all-reduce chunk");

    public Mailbox<long, TiedGradientMessage> Tied { get; } = new("tied gradient");

    /// <summary>Faults every pending wait, forgets every message, refuses new waits until <see cref="Open"/>.</summary>
    public void Close(string reason)
    {
        Activations.Close(reason);
        Gradients.Close(reason);
        Chunks.Close(reason);
        Tied.Close(reason);
    }

    public void Open()
    {
        Activations.Open();
        Gradients.Open();
        Chunks.Open();
        Tied.Open();
    }

    /// <summary>
    /// A send of this step failed: the peer will never answer, so the schedule's waits end now (the reduction's
    /// mailboxes are left alone: their peers are other replicas).
    /// </summary>
    public void FailSchedule(string reason)
    {
        Activations.Reset(reason);
        Gradients.Reset(reason);
    }

    /// <summary>Forgets messages of steps before <paramref name="step"/> that nobody will ask for (late copies of a rolled-back step).</summary>
    public void ForgetBefore(long step)
    {
        Activations.Forget(key => key.Step < step);
        Gradients.Forget(key => key.Step < step);
        Chunks.Forget(key => key.Step < step);
        Tied.Forget(key => key < step);
    }
}
