using InsideLLMs.Distributed.Contracts.Rlhf;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>Where the RLHF grains announce what happened (the silo's bus).</summary>
public interface IRlhfEventPublisher
{
    Task PublishAsync(RankingSubmitted submitted, CancellationToken cancellationToken = default);
}

/// <summary>For hosts without a bus (the grains' unit tests): events go nowhere; the stored rankings are the record.</summary>
public sealed class NoRlhfEventPublisher : IRlhfEventPublisher
{
    public Task PublishAsync(RankingSubmitted submitted, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
