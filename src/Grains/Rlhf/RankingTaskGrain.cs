using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Rlhf;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// One ranking task. A ranking is acknowledged only after it is written to storage; the annotator's id makes a
/// resubmission find the stored receipt, so a client that retries after a lost answer counts once.
/// </summary>
public sealed class RankingTaskGrain(
    [PersistentState("ranking", TrainingStorage.ProviderName)] IPersistentState<RankingTaskState> state,
    RlhfClock clock,
    IRlhfEventPublisher events,
    ILogger<RankingTaskGrain> logger) : Grain, IRankingTaskGrain
{
    private string Id => this.GetPrimaryKeyString();

    public async Task CreateAsync(RankingTaskInfo task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.Id != Id)
        {
            throw new ArgumentException($"The task says its id is '{task.Id}' but this is task '{Id}'.");
        }

        RankingRules.CheckCompletionCount(task.Completions.Count);
        if (state.State.Task is { } existing)
        {
            if (existing.Prompt == task.Prompt && existing.Version == task.Version && existing.Completions.SequenceEqual(task.Completions))
            {
                return;
            }

            throw new InvalidOperationException($"Ranking task '{Id}' exists with other completions; a task is never replaced.");
        }

        state.State.Task = task;
        await WriteAsync();
    }

    public async Task<RankingTaskView> GetAsync()
    {
        var task = await StoredAsync();
        var rankings = state.State.Rankings;
        return new RankingTaskView(
            task, rankings.Count, rankings.Count(r => r.Simulated), RankingRules.Agreement([.. rankings.Select(r => r.Order)]), Expired(task));
    }

    public async Task<RankingReceipt> SubmitAsync(string annotator, IReadOnlyList<int> order, bool simulated)
    {
        var task = Known();
        RankingRules.CheckAnnotator(annotator);
        if (state.State.Rankings.Find(r => r.Annotator == annotator) is { } first)
        {
            return first with { Duplicate = true }; // the first receipt, whatever this one says: nothing changes
        }

        if (Expired(task))
        {
            throw new ArgumentException($"Ranking task '{Id}' expired at {task.ExpiresAt:u}; ask for a new task.");
        }

        RankingRules.CheckOrder(order, task.Completions.Count);
        var sequence = state.State.Rankings.Count + 1;
        var receipt = new RankingReceipt($"{Id}#{sequence}", Id, annotator, [.. order], simulated, clock.UtcNow, sequence, Duplicate: false);
        state.State.Rankings.Add(receipt);
        try
        {
            await WriteAsync();
        }
        catch
        {
            state.State.Rankings.RemoveAt(state.State.Rankings.Count - 1);
            throw;
        }

        try
        {
            await events.PublishAsync(new RankingSubmitted(receipt.ReceiptId, Id, annotator, [.. order], simulated, receipt.AcceptedAt));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The ranking is stored and acknowledged either way: the stored rankings, not the events, are the count.
            logger.LogWarning(e, "Ranking {Receipt} is stored, but its RankingSubmitted event was not published", receipt.ReceiptId);
        }

        return receipt;
    }

    public async Task<IReadOnlyList<RankingReceipt>> GetRankingsAsync()
    {
        await StoredAsync();
        return [.. state.State.Rankings];
    }

    public async Task<bool> HasRankedAsync(string annotator)
    {
        await state.ReadStateAsync();
        if (state.State.Task is null)
        {
            DeactivateOnIdle();
            return false;
        }

        return state.State.Rankings.Exists(r => r.Annotator == annotator);
    }

    /// <summary>
    /// The task as stored. Reads go to storage, not to this activation's copy: while a new cluster's directory settles,
    /// or a lost silo is declared dead, a second activation of this task may have stored rankings this one has not
    /// seen, and a count read from the stale copy would stay short until the stale activation is collected. Writes
    /// need no such read: a stale copy fails its write on the ETag (<see cref="WriteAsync"/>).
    /// </summary>
    private async Task<RankingTaskInfo> StoredAsync()
    {
        await state.ReadStateAsync();
        return Known();
    }

    private RankingTaskInfo Known()
    {
        if (state.State.Task is { } task)
        {
            return task;
        }

        DeactivateOnIdle(); // an unknown id keeps nothing active
        throw new ArgumentException($"Unknown ranking task '{Id}'.");
    }

    private bool Expired(RankingTaskInfo task) => clock.UtcNow >= task.ExpiresAt;

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            // Another activation wrote meanwhile (a silo was being declared dead): this one's view is stale. The caller
            // retries and meets a fresh activation, which reads what was stored.
            DeactivateOnIdle();
            throw;
        }
    }
}
