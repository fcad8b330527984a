using InsideLLMs.Distributed.Contracts.Rlhf;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>Where the RLHF grains announce what happened (the silo's bus).</summary>
public interface IRlhfEventPublisher
{
    Task PublishAsync(RankingSubmitted submitted, CancellationToken cancellationToken = default);

    /// <summary>A pipeline event (<c>SftCompleted</c>, <c>RankingBatchReady</c>, <c>RewardModelTrained</c>, <c>PolicyUpdated</c>, <c>ModelPublished</c>).</summary>
    Task PublishEventAsync<T>(T message, CancellationToken cancellationToken = default) where T : class;
}

/// <summary>
/// For hosts without a bus (the grains' unit tests): events go nowhere; the stored rankings are the record, and a pipeline
/// waits for events that never come (its status says which).
/// </summary>
public sealed class NoRlhfEventPublisher : IRlhfEventPublisher
{
    public Task PublishAsync(RankingSubmitted submitted, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task PublishEventAsync<T>(T message, CancellationToken cancellationToken = default) where T : class => Task.CompletedTask;
}
