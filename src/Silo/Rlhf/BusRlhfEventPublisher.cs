using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Grains.Hosting;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Rlhf;

/// <summary>Publishes the RLHF grains' events on the silo's MassTransit bus.</summary>
public sealed class BusRlhfEventPublisher(IBus bus) : IRlhfEventPublisher
{
    public Task PublishAsync(RankingSubmitted submitted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(submitted);
        return bus.Publish(submitted, cancellationToken);
    }

    public Task PublishEventAsync<T>(T message, CancellationToken cancellationToken = default) where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        return bus.Publish(message, cancellationToken);
    }
}
