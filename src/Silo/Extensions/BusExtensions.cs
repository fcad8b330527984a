using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Silo.Rlhf;
using InsideLLMs.Distributed.Silo.Training;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// The MassTransit bus: in memory by default (events stay in this silo), RabbitMQ when <c>Bus:RabbitMq:Host</c> is set
/// (every silo sees every run's steps).
/// </summary>
public static class BusExtensions
{
    public const string RabbitMqSection = "Bus:RabbitMq";

    public static WebApplicationBuilder AddTrainingBus(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var rabbit = builder.Configuration.GetSection(RabbitMqSection);
        var host = rabbit["Host"];
        builder.Services.AddSingleton<LiveTrainingFeed>();
        builder.Services.AddSingleton<ITrainingEventPublisher, BusTrainingEventPublisher>();
        builder.Services.AddSingleton<IRlhfEventPublisher, BusRlhfEventPublisher>();
        builder.Services.AddMassTransit(bus =>
        {
            // A temporary queue per silo: each silo's page feed gets every step, rather than competing for them.
            bus.AddConsumer<TrainingStepCompletedConsumer>().Endpoint(endpoint => endpoint.Temporary = true);
            // A durable queue shared by every silo: each ranking sent over the bus is stored by one of them, even if none was up when it was sent.
            bus.AddConsumer<SubmitRankingConsumer, SubmitRankingConsumerDefinition>();
            // The RLHF pipeline's transitions: each stage's ending event starts the next (one queue for every silo).
            bus.AddConsumer<RlhfPipelineConsumer, RlhfPipelineConsumerDefinition>();
            if (string.IsNullOrWhiteSpace(host))
            {
                bus.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
            else
            {
                bus.UsingRabbitMq((context, cfg) =>
                {
                    var port = rabbit["Port"] is { Length: > 0 } text
                        ? ushort.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var p) && p > 0 ? p
                            : throw new InvalidOperationException($"Bus:RabbitMq:Port must be a port (1-65535); got '{text}'.")
                        : (ushort)5672;
                    cfg.Host(host, port, rabbit["VirtualHost"] ?? "/", h =>
                    {
                        h.Username(rabbit["Username"] ?? "guest");
                        h.Password(rabbit["Password"] ?? "guest");
                    });
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
        return builder;
    }
}
