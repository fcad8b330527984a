# The command-line client image, from `dotnet publish` output (deploy/docker/build-images.sh publishes it and runs this
# build with the publish folder as the context). The client talks to the cluster through an Orleans gateway
# (INSIDELLMS_GATEWAYS=host:30000), so in Kubernetes it runs inside the cluster: `kubectl run` with this image.
ARG BASE_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0
FROM ${BASE_IMAGE}

ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} insidellms \
 && useradd --system --uid ${APP_UID} --gid ${APP_UID} --home-dir /home/insidellms --create-home --shell /usr/sbin/nologin insidellms

WORKDIR /app
COPY --chown=0:0 . /app

ENV DOTNET_ENVIRONMENT=Production \
    HOME=/home/insidellms

USER ${APP_UID}:${APP_UID}
ENTRYPOINT ["dotnet", "/app/InsideLLMs.Distributed.Client.dll"]
CMD ["--help"]
